{% macro pick() %}
  {% if true %}
    1
{% endmacro %}
