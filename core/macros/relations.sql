{#- dbt's relation helpers that package code calls outside materializations
    (elementary builds its own tables with them). -#}

{#- A scratch relation for `base_relation`. dbt-postgres's is session-temporary:
    named without schema, with the time in its name so two renders never collide, at
    most PostgreSQL's 63 characters. A render's statements share one connection, so the
    temporary table one `run_query` creates the next one reads. -#}
{% macro make_temp_relation(base_relation, suffix='__dbt_tmp') %}
    {{ return(adapter.dispatch('make_temp_relation', 'dbt')(base_relation, suffix)) }}
{% endmacro %}

{% macro default__make_temp_relation(base_relation, suffix) %}
    {%- set identifier = base_relation.identifier ~ suffix -%}
    {{ return(base_relation.incorporate(path={"identifier": identifier})) }}
{% endmacro %}

{% macro postgres__make_temp_relation(base_relation, suffix) %}
    {%- set suffix = suffix ~ modules.datetime.datetime.now().strftime("%H%M%S%f") -%}
    {%- set identifier = base_relation.identifier[:63 - (suffix | length)] ~ suffix -%}
    {{ return(base_relation.incorporate(path={"identifier": identifier, "schema": none, "database": none})) }}
{% endmacro %}

{#- SQLite keeps temporary tables in its `temp` schema, found by an unqualified name. -#}
{% macro sqlite__make_temp_relation(base_relation, suffix) %}
    {%- set identifier = base_relation.identifier ~ suffix -%}
    {{ return(base_relation.incorporate(path={"identifier": identifier, "schema": none, "database": none})) }}
{% endmacro %}

{#- `create [temporary] table ... as`; a temporary table is named without its schema,
    where the database puts it. -#}
{% macro get_create_table_as_sql(temporary, relation, sql) -%}
    {{ return(adapter.dispatch('get_create_table_as_sql', 'dbt')(temporary, relation, sql)) }}
{%- endmacro %}

{% macro default__get_create_table_as_sql(temporary, relation, sql) -%}
    create {% if temporary -%}temporary{%- endif %} table {{ relation.include(database=(not temporary), schema=(not temporary)) }} as (
        {{ sql }}
    )
{%- endmacro %}

{#- MySQL and SQLite name relations by two parts: the database part stays off. A
    MySQL temporary table may keep its database; SQLite's must be unqualified. -#}
{% macro mysql__get_create_table_as_sql(temporary, relation, sql) -%}
    create {% if temporary -%}temporary{%- endif %} table {{ relation }} as (
        {{ sql }}
    )
{%- endmacro %}

{% macro sqlite__get_create_table_as_sql(temporary, relation, sql) -%}
    create {% if temporary -%}temporary{%- endif %} table {{ relation.include(schema=(not temporary)) }} as {{ sql }}
{%- endmacro %}

{% macro get_or_create_relation(database, schema, identifier, type) %}
    {%- set found = adapter.get_relation(database=database, schema=schema, identifier=identifier) -%}
    {%- if found -%}
        {{ return([true, found]) }}
    {%- endif -%}
    {{ return([false, api.Relation.create(database=database, schema=schema, identifier=identifier, type=type)]) }}
{% endmacro %}

{% macro drop_relation_if_exists(relation) %}
    {%- if relation is not none -%}
        {% do adapter.drop_relation(relation) %}
    {%- endif -%}
{% endmacro %}
