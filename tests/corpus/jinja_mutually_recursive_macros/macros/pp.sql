{% macro ping(n) %}{{ pong(n + 1) }}{% endmacro %}

{% macro pong(n) %}{{ ping(n + 1) }}{% endmacro %}
