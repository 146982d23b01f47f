-- a header comment
/* and a block
   comment */
with a as (select 1 as x)
select x from a
