-- A lending library: not the refund desk. Members are looked up by card, by email or by
-- name and date of birth; the schema enforces some of that uniqueness, not all of it.
create table members (
    id          bigserial primary key,
    card_no     text not null unique,             -- LIB-00042
    full_name   text not null,
    birth_date  date not null,
    email       text not null,
    created_at  timestamptz not null default now()
);
create unique index members_email_lower on members (lower(email));

create table books (
    id     bigserial primary key,
    isbn   text not null unique,
    title  text not null
);

create table loans (
    id         bigserial primary key,
    member_id  bigint not null references members(id),
    book_id    bigint not null references books(id),
    lent_on    date not null default current_date,
    constraint loans_one_per_book unique (book_id)
);
