
{% macro twice() %}2{% endmacro %}
