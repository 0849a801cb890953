create table slots (
  id serial primary key,
  ref text not null unique,  -- a slot reference names one slot
  day date not null,
  guest text not null
);
create table bookings (
  id serial primary key,
  slot_ref text not null,
  day date not null,
  at time not null
);
