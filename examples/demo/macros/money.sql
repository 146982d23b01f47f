{% macro round_money(expr) -%}
round({{ expr }}, 2)
{%- endmacro %}
