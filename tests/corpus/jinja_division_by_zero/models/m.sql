select 1 as x
{% set y = 1 / 0 %}
