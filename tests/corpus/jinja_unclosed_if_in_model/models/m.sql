select 1 as x
{% if true %}
, 2 as y
