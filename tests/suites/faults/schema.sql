create table notes (
  id serial primary key,
  conversation text not null,
  text text not null
);
create table accounts (
  id serial primary key,
  owner text not null
);
