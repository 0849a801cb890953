create table members (
  id serial primary key,
  card text not null unique,
  name text not null
);
create table holds (
  id serial primary key,
  member_id integer not null references members (id),
  title text not null,
  requested_card text not null,
  conversation text not null
);
