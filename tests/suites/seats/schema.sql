create table seats (
  id serial primary key,
  thread text not null,
  flight text not null,
  seat_kind text not null
);
