# The Debian package: `cpack -G DEB` in a built tree makes invalidator_<version>_<arch>.deb with
# the binary, the plugins, the headers and CMake package for plugin authors and embedders, the
# documentation, a default configuration in /etc/invalidator and the systemd unit. Its
# dependencies are the Debian runtime packages the binaries link (dpkg-shlibdeps).

# The configuration and the unit go to absolute places, so only into the package: a component
# left out of `cmake --install`, which must never write to /etc of the machine it runs on.
install(FILES ${PROJECT_SOURCE_DIR}/deploy/invalidator.toml DESTINATION /etc/invalidator
  COMPONENT system EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/invalidator.service DESTINATION /lib/systemd/system
  COMPONENT system EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/configuration.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

# dpkg keeps an administrator's edits of a conffile across upgrades.
file(WRITE ${CMAKE_BINARY_DIR}/debian/conffiles "/etc/invalidator/invalidator.toml\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME invalidator)
set(CPACK_PACKAGE_VENDOR "Invalidator")
set(CPACK_PACKAGE_CONTACT "Invalidator maintainers <maintainers@invalidator.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "keeps caches in step with a database's change stream")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "Reads row changes (Debezium events over Kafka or Pulsar, PostgreSQL logical replication, SQL\n polling), maps each change to the cache keys it makes stale, and deletes or refreshes them in\n Redis, Memcached, an in-process cache or an HTTP webhook. Sources and sinks are plugins.")
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the tree is built with debug information
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/InvalidatorStripArchives.cmake)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified system)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/debian/conffiles)
include(CPack)
