create table customers (
  id bigserial primary key,
  first_name text not null,
  last_name text not null,
  email text not null unique
);
alter table customers replica identity full;  -- before images for `changed` and old keys
insert into customers (first_name, last_name, email) values
  ('Sally', 'Thomas', 'sally.thomas@acme.com'),
  ('George', 'Bailey', 'gbailey@foobar.com');
