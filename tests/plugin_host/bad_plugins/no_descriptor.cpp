// A shared library in the plugin path that is not a plugin at all.
extern "C" __attribute__((visibility("default"))) int some_unrelated_function() { return 42; }
