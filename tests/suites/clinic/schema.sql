create table patients (
  id serial primary key,
  surname text not null,
  born date not null,
  number text not null unique
);
create table appointments (
  id serial primary key,
  patient_id integer not null references patients (id),
  part_of_day text not null,
  visit text not null
);
