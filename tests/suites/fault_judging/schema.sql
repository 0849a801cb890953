create table customers (
  id serial primary key,
  name text not null,       -- not unique: the agent finds a customer by name and PIN
  pin text not null,
  email text not null unique,
  ref text not null unique,  -- from a sequence: the case's index in a clean case
  credits int not null default 0
);
