select 1 as x
{# a comment that never ends
