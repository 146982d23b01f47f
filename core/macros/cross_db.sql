{#- DVT's own versions of dbt's cross-database macros (`dbt.dateadd`, `dbt.type_string`,
    ...). Each public macro dispatches with `adapter.dispatch(name, 'dbt')`, so a project
    macro `<adapter>__<name>` or `default__<name>` replaces DVT's, as dbt's dispatch rules
    say (architecture decision ab).

    `default__*` is the SQL dbt's default writes. `postgres__*` exists where dbt-postgres
    writes something else, and its output equals dbt-postgres's word for word (the
    `jinja_context` goldens check it). `mysql__*` (MySQL 8 and MariaDB 10.5+, which DVT's
    `mysql` target serves) and `sqlite__*` (SQLite 3.38+; DVT's own connections run 3.50)
    give the values PostgreSQL gives for the same inputs: `core/tests/it/cross_db.rs`
    runs them on all three.

    On MySQL and SQLite a date stays a date where the database itself keeps it one
    (adding days to a date, truncating a date): PostgreSQL answers with a timestamp at
    midnight, the same instant. SQLite has no date type: dates are `YYYY-MM-DD` text and
    timestamps `YYYY-MM-DD HH:MM:SS` text, as DVT's SQLite adapter stores them. -#}


{#- ---------------------------------------------------------------------------------
    Types. The names are written out rather than asked of `api.Column.translate_type`:
    dbt 1.10's labels map nothing but `string`, and MySQL's `cast` accepts only its own
    names (`signed`, `char`, `datetime`). They serve `cast(x as {{ dbt.type_int() }})`.
--------------------------------------------------------------------------------- -#}

{% macro type_string() %}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{% endmacro %}

{% macro default__type_string() %}{{ return('TEXT') }}{% endmacro %}

{% macro mysql__type_string() %}{{ return('char') }}{% endmacro %}

{% macro type_int() %}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{% endmacro %}

{% macro default__type_int() -%}{{ return('integer') }}{%- endmacro %}

{% macro mysql__type_int() -%}{{ return('signed') }}{%- endmacro %}

{% macro type_bigint() %}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{% endmacro %}

{% macro default__type_bigint() %}{{ return('bigint') }}{% endmacro %}

{% macro mysql__type_bigint() %}{{ return('signed') }}{% endmacro %}

{% macro type_float() %}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{% endmacro %}

{% macro default__type_float() %}{{ return('float') }}{% endmacro %}

{% macro mysql__type_float() %}{{ return('double') }}{% endmacro %}

{% macro type_numeric() %}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{% endmacro %}

{% macro default__type_numeric() %}{{ return(api.Column.numeric_type('numeric', 28, 6)) }}{% endmacro %}

{% macro mysql__type_numeric() %}{{ return('decimal(28,6)') }}{% endmacro %}

{% macro type_timestamp() %}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{% endmacro %}

{% macro default__type_timestamp() %}{{ return('timestamp') }}{% endmacro %}

{% macro mysql__type_timestamp() %}{{ return('datetime') }}{% endmacro %}

{#- SQLite casts to a type named `timestamp` by numeric affinity (`2020-01-01` becomes
    2020); timestamps are text there. -#}
{% macro sqlite__type_timestamp() %}{{ return('text') }}{% endmacro %}

{% macro type_boolean() %}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{% endmacro %}

{% macro default__type_boolean() -%}{{ return('boolean') }}{%- endmacro %}

{#- MySQL's booleans are integers (`tinyint(1)`), and `cast` has no boolean target. -#}
{% macro mysql__type_boolean() -%}{{ return('signed') }}{%- endmacro %}


{#- ---------------------------------------------------------------------------------
    Casts
--------------------------------------------------------------------------------- -#}

{% macro cast(field, type) %}{{ return(adapter.dispatch('cast', 'dbt')(field, type)) }}{% endmacro %}

{% macro default__cast(field, type) %}
    cast({{ field }} as {{ type }})
{% endmacro %}

{% macro mysql__cast(field, type) %}
    cast({{ field }} as {{ dbt._dvt_mysql_cast_type(type) }})
{% endmacro %}

{#- SQLite converts to `date` or `timestamp` by numeric affinity, which keeps only the
    year of `2020-01-31`; its date functions give the text DVT stores instead. -#}
{% macro sqlite__cast(field, type) %}
    {%- set base = (type | string | lower).split('(')[0] | trim -%}
    {%- if base == 'date' %}
    date({{ field }})
    {%- elif base in ('timestamp', 'datetime', 'timestamp without time zone') %}
    datetime({{ field }})
    {%- else %}
    cast({{ field }} as {{ type }})
    {%- endif %}
{% endmacro %}

{% macro safe_cast(field, type) %}{{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}{% endmacro %}

{#- PostgreSQL has no cast that answers null on bad input; dbt-postgres casts. MySQL's
    and SQLite's casts never fail (bad input becomes 0 or stays as it is). -#}
{% macro default__safe_cast(field, type) %}
    cast({{ field }} as {{ type }})
{% endmacro %}

{% macro mysql__safe_cast(field, type) %}
    {{ dbt.mysql__cast(field, type) }}
{% endmacro %}

{% macro sqlite__safe_cast(field, type) %}
    {{ dbt.sqlite__cast(field, type) }}
{% endmacro %}

{#- The `cast` target MySQL 8 accepts for a type named the PostgreSQL way (MariaDB takes
    a few more names, MySQL only these). Other names pass through. -#}
{% macro _dvt_mysql_cast_type(type) %}
    {%- set name = type | string | trim -%}
    {%- set lowered = name | lower -%}
    {%- set base = lowered.split('(')[0] | trim -%}
    {%- set args = ('(' ~ name.split('(', 1)[1]) if '(' in name else '' -%}
    {%- if base in ('text', 'string', 'varchar', 'character varying', 'character') -%}
        {{ return('char' ~ args) }}
    {%- elif base in ('int', 'integer', 'bigint', 'smallint', 'int4', 'int8', 'boolean', 'bool') -%}
        {{ return('signed') }}
    {%- elif base in ('float', 'float8', 'double precision', 'real', 'float4') -%}
        {{ return('double') }}
    {%- elif base in ('numeric', 'decimal') -%}
        {{ return('decimal' ~ args) }}
    {%- elif base in ('timestamp', 'timestamp without time zone') -%}
        {{ return('datetime') }}
    {%- else -%}
        {{ return(name) }}
    {%- endif -%}
{% endmacro %}

{% macro cast_bool_to_text(field) %}{{ return(adapter.dispatch('cast_bool_to_text', 'dbt')(field)) }}{% endmacro %}

{% macro default__cast_bool_to_text(field) %}
    cast({{ field }} as TEXT)
{% endmacro %}

{#- Booleans are 1 and 0 on MySQL and SQLite; PostgreSQL spells them `true`/`false`. -#}
{% macro mysql__cast_bool_to_text(field) %}
    case when {{ field }} then 'true' when not {{ field }} then 'false' end
{% endmacro %}

{% macro sqlite__cast_bool_to_text(field) %}
    {{ dbt.mysql__cast_bool_to_text(field) }}
{% endmacro %}


{#- ---------------------------------------------------------------------------------
    Dates and times
--------------------------------------------------------------------------------- -#}

{% macro current_timestamp() %}{{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}{% endmacro %}

{% macro default__current_timestamp() -%}
    current_timestamp
{%- endmacro %}

{% macro postgres__current_timestamp() -%}
    now()
{%- endmacro %}

{#- The deprecated pair older packages still call (Fivetran's, dbt_utils 0.x): now as a
    timestamp without time zone, in the session's zone or in UTC. -#}
{% macro current_timestamp_backcompat() %}
    {{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}
{% endmacro %}

{% macro default__current_timestamp_backcompat() %}
    current_timestamp::{{ type_timestamp() }}
{% endmacro %}

{% macro mysql__current_timestamp_backcompat() %}
    cast(current_timestamp as datetime)
{% endmacro %}

{#- SQLite's `current_timestamp` is already UTC text. -#}
{% macro sqlite__current_timestamp_backcompat() %}
    current_timestamp
{% endmacro %}

{#- The federation engine's clock is UTC; it folds `at time zone` casts of `now()`
    badly, so both spell the instant plainly. -#}
{% macro datafusion__current_timestamp_backcompat() %}
    cast(now() as timestamp)
{% endmacro %}

{% macro current_timestamp_in_utc_backcompat() %}
    {{ return(adapter.dispatch('current_timestamp_in_utc_backcompat', 'dbt')()) }}
{% endmacro %}

{% macro default__current_timestamp_in_utc_backcompat() %}
    (current_timestamp at time zone 'utc')::{{ type_timestamp() }}
{% endmacro %}

{% macro datafusion__current_timestamp_in_utc_backcompat() %}
    cast(now() as timestamp)
{% endmacro %}

{% macro mysql__current_timestamp_in_utc_backcompat() %}
    utc_timestamp()
{% endmacro %}

{% macro sqlite__current_timestamp_in_utc_backcompat() %}
    current_timestamp
{% endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) %}
    {{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}
{% endmacro %}

{% macro default__dateadd(datepart, interval, from_date_or_timestamp) %}
    dateadd(
        {{ datepart }},
        {{ interval }},
        {{ from_date_or_timestamp }}
        )
{% endmacro %}

{#- PostgreSQL's intervals have no quarter: three months (dbt-postgres writes
    `interval '1 quarter'`, which PostgreSQL refuses). -#}
{% macro postgres__dateadd(datepart, interval, from_date_or_timestamp) %}
    {%- if datepart | lower == 'quarter' %}
    {{ from_date_or_timestamp }} + ((interval '3 month') * ({{ interval }}))
    {%- else %}
    {{ from_date_or_timestamp }} + ((interval '1 {{ datepart }}') * ({{ interval }}))
    {%- endif %}
{% endmacro %}

{#- A federated model's SQL runs in DVT's engine, which cannot multiply an interval: the
    count is cast into one (`'3 month'`). -#}
{% macro datafusion__dateadd(datepart, interval, from_date_or_timestamp) %}
    {%- set part = datepart | lower -%}
    {%- set count = '3 * (' ~ interval ~ ')' if part == 'quarter' else interval -%}
    {%- set unit = 'month' if part == 'quarter' else part -%}
    {{ from_date_or_timestamp }} + cast(cast({{ count }} as varchar) || ' {{ unit }}' as interval)
{% endmacro %}

{% macro mysql__dateadd(datepart, interval, from_date_or_timestamp) %}
    {%- set part = datepart | lower -%}
    {%- if part not in ('second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year') -%}
        {{ exceptions.raise_compiler_error("dbt.dateadd: unsupported datepart `" ~ datepart ~ "` on MySQL") }}
    {%- endif %}
    date_add({{ from_date_or_timestamp }}, interval ({{ interval }}) {{ part }})
{% endmacro %}

{#- Months are added as PostgreSQL and MySQL add them, clamping to the end of a shorter
    month (2020-01-31 plus a month is 2020-02-29); SQLite's own `+1 month` rolls over into
    March. So the value goes to the first of its month, moves by whole months, then
    forward by its day of month (at most the target month's last day) and its time. -#}
{% macro sqlite__dateadd(datepart, interval, from_date_or_timestamp) %}
    {%- set part = datepart | lower -%}
    {%- set x = from_date_or_timestamp -%}
    {%- if part in ('second', 'minute', 'hour') %}
    datetime({{ x }}, ({{ interval }}) || ' {{ part }}s')
    {%- elif part in ('day', 'week') %}
    {#- `||` binds tighter than `*` in SQLite: the count is parenthesised whole. #}
    {%- set days = '(' ~ interval ~ ')' ~ (' * 7' if part == 'week' else '') %}
    {{ dbt._dvt_sqlite_like_input(x, ["(" ~ days ~ ") || ' days'"]) }}
    {%- elif part in ('month', 'quarter', 'year') %}
    {%- set months = '(' ~ {'month': '', 'quarter': '3 * ', 'year': '12 * '}[part] ~ '(' ~ interval ~ '))' %}
    {{ dbt._dvt_sqlite_like_input(x, [
        "'start of month'",
        months ~ " || ' months'",
        "(min(cast(strftime('%d', " ~ x ~ ") as integer), cast(strftime('%d', " ~ x ~ ", 'start of month', (" ~ months ~ " + 1) || ' months', '-1 day') as integer)) - 1) || ' days'",
        "'+' || time(" ~ x ~ ")",
    ]) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("dbt.dateadd: unsupported datepart `" ~ datepart ~ "` on SQLite") }}
    {%- endif %}
{% endmacro %}

{#- SQLite: `value` moved by `modifiers`, written as a date when `value` is a date
    (`YYYY-MM-DD`) and as a timestamp otherwise. -#}
{% macro _dvt_sqlite_like_input(value, modifiers) -%}
    strftime(case when length({{ value }}) > 10 then '%Y-%m-%d %H:%M:%S' else '%Y-%m-%d' end, {{ value }}, {{ modifiers | join(', ') }})
{%- endmacro %}

{% macro datediff(first_date, second_date, datepart) %}
    {{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}
{% endmacro %}

{% macro default__datediff(first_date, second_date, datepart) -%}
    datediff(
        {{ datepart }},
        {{ first_date }},
        {{ second_date }}
        )
{%- endmacro %}

{#- dbt's datediff counts the boundaries crossed (Snowflake's meaning): from 23:59 to
    00:01 the next day is one day. Coarser parts build on finer ones, as in dbt-postgres;
    a week is days / 7, adjusted by the two weekdays. -#}
{% macro postgres__datediff(first_date, second_date, datepart) -%}
    {%- set a = first_date -%}
    {%- set b = second_date -%}
    {%- set part = datepart | lower -%}
    {% if part == 'year' %}
        (date_part('year', ({{ b }})::date) - date_part('year', ({{ a }})::date))
    {% elif part == 'quarter' %}
        ( {{ dbt.datediff(a, b, 'year') }} * 4 + date_part('quarter', ({{ b }})::date) - date_part('quarter', ({{ a }})::date))
    {% elif part == 'month' %}
        ( {{ dbt.datediff(a, b, 'year') }} * 12 + date_part('month', ({{ b }})::date) - date_part('month', ({{ a }})::date))
    {% elif part == 'day' %}
        (({{ b }})::date - ({{ a }})::date)
    {% elif part == 'week' %}
        ( {{ dbt.datediff(a, b, 'day') }} / 7 + case
            when date_part('dow', ({{ a }})::timestamp) <= date_part('dow', ({{ b }})::timestamp) then
                case when {{ a }} <= {{ b }} then 0 else -1 end
            else
                case when {{ a }} <= {{ b }} then 1 else 0 end
        end)
    {% elif part == 'hour' %}
        ( {{ dbt.datediff(a, b, 'day') }} * 24 + date_part('hour', ({{ b }})::timestamp) - date_part('hour', ({{ a }})::timestamp))
    {% elif part == 'minute' %}
        ( {{ dbt.datediff(a, b, 'hour') }} * 60 + date_part('minute', ({{ b }})::timestamp) - date_part('minute', ({{ a }})::timestamp))
    {% elif part == 'second' %}
        ( {{ dbt.datediff(a, b, 'minute') }} * 60 + floor(date_part('second', ({{ b }})::timestamp)) - floor(date_part('second', ({{ a }})::timestamp)))
    {% elif part == 'millisecond' %}
        ( {{ dbt.datediff(a, b, 'minute') }} * 60000 + floor(date_part('millisecond', ({{ b }})::timestamp)) - floor(date_part('millisecond', ({{ a }})::timestamp)))
    {% elif part == 'microsecond' %}
        ( {{ dbt.datediff(a, b, 'minute') }} * 60000000 + floor(date_part('microsecond', ({{ b }})::timestamp)) - floor(date_part('microsecond', ({{ a }})::timestamp)))
    {% else %}
        {{ exceptions.raise_compiler_error("dbt.datediff: unsupported datepart `" ~ datepart ~ "` on PostgreSQL") }}
    {% endif %}
{%- endmacro %}

{#- The same counts as PostgreSQL's. `div` truncates towards zero as PostgreSQL's integer
    division does; `dayofweek` numbers Sunday first, as `dow` does. -#}
{% macro mysql__datediff(first_date, second_date, datepart) -%}
    {%- set a = first_date -%}
    {%- set b = second_date -%}
    {%- set part = datepart | lower -%}
    {%- if part == 'year' %}
        (year({{ b }}) - year({{ a }}))
    {%- elif part == 'quarter' %}
        ( {{ dbt.datediff(a, b, 'year') }} * 4 + quarter({{ b }}) - quarter({{ a }}))
    {%- elif part == 'month' %}
        ( {{ dbt.datediff(a, b, 'year') }} * 12 + month({{ b }}) - month({{ a }}))
    {%- elif part == 'day' %}
        datediff({{ b }}, {{ a }})
    {%- elif part == 'week' %}
        ( {{ dbt.datediff(a, b, 'day') }} div 7 + case
            when dayofweek({{ a }}) <= dayofweek({{ b }}) then
                case when {{ a }} <= {{ b }} then 0 else -1 end
            else
                case when {{ a }} <= {{ b }} then 1 else 0 end
        end)
    {%- elif part == 'hour' %}
        ( {{ dbt.datediff(a, b, 'day') }} * 24 + hour({{ b }}) - hour({{ a }}))
    {%- elif part == 'minute' %}
        ( {{ dbt.datediff(a, b, 'hour') }} * 60 + minute({{ b }}) - minute({{ a }}))
    {%- elif part == 'second' %}
        ( {{ dbt.datediff(a, b, 'minute') }} * 60 + second({{ b }}) - second({{ a }}))
    {%- else -%}
        {{ exceptions.raise_compiler_error("dbt.datediff: unsupported datepart `" ~ datepart ~ "` on MySQL") }}
    {%- endif %}
{%- endmacro %}

{#- SQLite's parts come from `strftime` as text; days from Julian day numbers of the two
    dates (whole numbers, so the cast is exact). -#}
{% macro sqlite__datediff(first_date, second_date, datepart) -%}
    {%- set a = first_date -%}
    {%- set b = second_date -%}
    {%- set part = datepart | lower -%}
    {%- if part == 'year' %}
        (cast(strftime('%Y', {{ b }}) as integer) - cast(strftime('%Y', {{ a }}) as integer))
    {%- elif part == 'quarter' %}
        ( {{ dbt.datediff(a, b, 'year') }} * 4 + (cast(strftime('%m', {{ b }}) as integer) - 1) / 3 - (cast(strftime('%m', {{ a }}) as integer) - 1) / 3)
    {%- elif part == 'month' %}
        ( {{ dbt.datediff(a, b, 'year') }} * 12 + cast(strftime('%m', {{ b }}) as integer) - cast(strftime('%m', {{ a }}) as integer))
    {%- elif part == 'day' %}
        cast(julianday(date({{ b }})) - julianday(date({{ a }})) as integer)
    {%- elif part == 'week' %}
        ( {{ dbt.datediff(a, b, 'day') }} / 7 + case
            when cast(strftime('%w', {{ a }}) as integer) <= cast(strftime('%w', {{ b }}) as integer) then
                case when {{ a }} <= {{ b }} then 0 else -1 end
            else
                case when {{ a }} <= {{ b }} then 1 else 0 end
        end)
    {%- elif part == 'hour' %}
        ( {{ dbt.datediff(a, b, 'day') }} * 24 + cast(strftime('%H', {{ b }}) as integer) - cast(strftime('%H', {{ a }}) as integer))
    {%- elif part == 'minute' %}
        ( {{ dbt.datediff(a, b, 'hour') }} * 60 + cast(strftime('%M', {{ b }}) as integer) - cast(strftime('%M', {{ a }}) as integer))
    {%- elif part == 'second' %}
        ( {{ dbt.datediff(a, b, 'minute') }} * 60 + cast(strftime('%S', {{ b }}) as integer) - cast(strftime('%S', {{ a }}) as integer))
    {%- else -%}
        {{ exceptions.raise_compiler_error("dbt.datediff: unsupported datepart `" ~ datepart ~ "` on SQLite") }}
    {%- endif %}
{%- endmacro %}

{% macro date_trunc(datepart, date) %}{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}{% endmacro %}

{% macro default__date_trunc(datepart, date) -%}
    date_trunc('{{ datepart }}', {{ date }})
{%- endmacro %}

{#- A datetime at the start of the period, as PostgreSQL's timestamp; weeks start on
    Monday (ISO), as PostgreSQL's do. -#}
{% macro mysql__date_trunc(datepart, date) -%}
    {%- set part = datepart | lower -%}
    {%- if part == 'second' %}
    timestamp(date_format({{ date }}, '%Y-%m-%d %H:%i:%s'))
    {%- elif part == 'minute' %}
    timestamp(date_format({{ date }}, '%Y-%m-%d %H:%i:00'))
    {%- elif part == 'hour' %}
    timestamp(date_format({{ date }}, '%Y-%m-%d %H:00:00'))
    {%- elif part == 'day' %}
    timestamp(date({{ date }}))
    {%- elif part == 'week' %}
    timestamp(date({{ date }}) - interval weekday({{ date }}) day)
    {%- elif part == 'month' %}
    timestamp(date_format({{ date }}, '%Y-%m-01'))
    {%- elif part == 'quarter' %}
    timestamp(makedate(year({{ date }}), 1) + interval (quarter({{ date }}) - 1) quarter)
    {%- elif part == 'year' %}
    timestamp(date_format({{ date }}, '%Y-01-01'))
    {%- else -%}
        {{ exceptions.raise_compiler_error("dbt.date_trunc: unsupported datepart `" ~ datepart ~ "` on MySQL") }}
    {%- endif %}
{%- endmacro %}

{% macro sqlite__date_trunc(datepart, date) -%}
    {%- set part = datepart | lower -%}
    {%- if part == 'second' %}
    strftime('%Y-%m-%d %H:%M:%S', {{ date }})
    {%- elif part == 'minute' %}
    strftime('%Y-%m-%d %H:%M:00', {{ date }})
    {%- elif part == 'hour' %}
    strftime('%Y-%m-%d %H:00:00', {{ date }})
    {%- else %}
    {{ dbt._dvt_sqlite_like_input(date, dbt._dvt_sqlite_period_start(part, date)) }}
    {%- endif %}
{%- endmacro %}

{#- The SQLite date modifiers that move `date` to the start of its `part` (a day or
    longer). -#}
{% macro _dvt_sqlite_period_start(part, date) %}
    {%- if part == 'day' -%}
        {{ return(["'start of day'"]) }}
    {%- elif part == 'week' -%}
        {#- The Monday on or before the day: back six days, then on to a Monday. -#}
        {{ return(["'start of day'", "'-6 days'", "'weekday 1'"]) }}
    {%- elif part == 'month' -%}
        {{ return(["'start of month'"]) }}
    {%- elif part == 'quarter' -%}
        {{ return(["'start of month'", "(-((cast(strftime('%m', " ~ date ~ ") as integer) - 1) % 3)) || ' months'"]) }}
    {%- elif part == 'year' -%}
        {{ return(["'start of year'"]) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unsupported datepart `" ~ part ~ "` on SQLite") }}
    {%- endif -%}
{% endmacro %}

{% macro last_day(date, datepart) %}{{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}{% endmacro %}

{#- The period's start, one period on, one day back, as a date. -#}
{%- macro default_last_day(date, datepart) -%}
    cast( {{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date)
{%- endmacro %}

{% macro default__last_day(date, datepart) -%}
    {{ dbt.default_last_day(date, datepart) }}
{%- endmacro %}

{#- dbt-postgres spells a quarter as three months here, with this comment. -#}
{% macro postgres__last_day(date, datepart) -%}
    {%- if datepart == 'quarter' -%}
    -- postgres dateadd does not support quarter interval.
    cast( {{ dbt.dateadd('day', '-1', dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))) }} as date)
    {%- else -%}
    {{ dbt.default_last_day(date, datepart) }}
    {%- endif -%}
{%- endmacro %}

{% macro sqlite__last_day(date, datepart) -%}
    {%- set part = datepart | lower -%}
    {%- set step = {'day': "'+1 day'", 'week': "'+7 days'", 'month': "'+1 month'", 'quarter': "'+3 months'", 'year': "'+1 year'"}[part] -%}
    date({{ date }}, {{ (dbt._dvt_sqlite_period_start(part, date) + [step, "'-1 day'"]) | join(', ') }})
{%- endmacro %}

{% macro date(year, month, day) %}{{ return(adapter.dispatch('date', 'dbt')(year, month, day)) }}{% endmacro %}

{#- `modules.datetime.date` refuses a day that does not exist, as dbt's does. -#}
{% macro default__date(year, month, day) -%}
    to_date('{{ modules.datetime.date(year, month, day).strftime("%Y-%m-%d") }}', 'YYYY-MM-DD')
{%- endmacro %}

{#- The engine's `to_date` takes chrono formats, not PostgreSQL's: a date literal. -#}
{% macro datafusion__date(year, month, day) -%}
    date '{{ modules.datetime.date(year, month, day).strftime("%Y-%m-%d") }}'
{%- endmacro %}

{% macro mysql__date(year, month, day) -%}
    date '{{ modules.datetime.date(year, month, day).strftime("%Y-%m-%d") }}'
{%- endmacro %}

{% macro sqlite__date(year, month, day) -%}
    date('{{ modules.datetime.date(year, month, day).strftime("%Y-%m-%d") }}')
{%- endmacro %}


{#- ---------------------------------------------------------------------------------
    Strings
--------------------------------------------------------------------------------- -#}

{% macro concat(fields) %}{{ return(adapter.dispatch('concat', 'dbt')(fields)) }}{% endmacro %}

{% macro default__concat(fields) -%}
    {{ fields | join(' || ') }}
{%- endmacro %}

{#- `||` is `or` on MySQL unless `sql_mode` has PIPES_AS_CONCAT; `concat` is null when
    any part is, as `||` is on PostgreSQL. -#}
{% macro mysql__concat(fields) -%}
    concat({{ fields | join(', ') }})
{%- endmacro %}

{% macro hash(field) %}{{ return(adapter.dispatch('hash', 'dbt')(field)) }}{% endmacro %}

{#- SQLite has no `md5`: DVT's SQLite connections register one (hex of the UTF-8 text). -#}
{% macro default__hash(field) -%}
    md5(cast({{ field }} as TEXT))
{%- endmacro %}

{% macro mysql__hash(field) -%}
    md5(cast({{ field }} as char))
{%- endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) %}
    {{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}
{% endmacro %}

{% macro default__split_part(string_text, delimiter_text, part_number) %}
    split_part(
        {{ string_text }},
        {{ delimiter_text }},
        {{ part_number }}
        )
{% endmacro %}

{#- A negative part counts from the end. dbt-postgres turns it into a positive one (the
    number of delimiters + 2 + part), which works before PostgreSQL 14 too. -#}
{% macro postgres__split_part(string_text, delimiter_text, part_number) %}
    {%- if part_number is number and part_number < 0 %}
    {{ dbt._split_part_negative(string_text, delimiter_text, part_number) }}
    {%- else %}
    {{ dbt.default__split_part(string_text, delimiter_text, part_number) }}
    {%- endif %}
{% endmacro %}

{% macro _split_part_negative(string_text, delimiter_text, part_number) %}
    split_part(
        {{ string_text }},
        {{ delimiter_text }},
          length({{ string_text }})
          - length(
              replace({{ string_text }}, {{ delimiter_text }}, '')
          ) + 2 + {{ part_number }}
        )
{% endmacro %}

{#- `substring_index` keeps the text before the n-th delimiter (after it, counting from
    the end, when n is negative). Padding the text with n delimiters makes a part past
    the last one empty, as PostgreSQL's. -#}
{% macro mysql__split_part(string_text, delimiter_text, part_number) %}
    {%- if part_number is number and part_number < 0 %}
    substring_index(substring_index(concat(repeat({{ delimiter_text }}, {{ -part_number }}), {{ string_text }}), {{ delimiter_text }}, {{ part_number }}), {{ delimiter_text }}, 1)
    {%- else %}
    substring_index(substring_index(concat({{ string_text }}, repeat({{ delimiter_text }}, {{ part_number }})), {{ delimiter_text }}, {{ part_number }}), {{ delimiter_text }}, -1)
    {%- endif %}
{% endmacro %}

{#- SQLite has no split function: a recursive query cuts the text into numbered parts
    (an empty delimiter cuts nothing). A missing part is '' and a null text gives null,
    as on PostgreSQL. -#}
{% macro sqlite__split_part(string_text, delimiter_text, part_number) %}
    {%- set d = '(' ~ delimiter_text ~ ')' -%}
    {%- if part_number is number and part_number < 0 -%}
        {%- set wanted = '(select max(idx) from dvt_parts) + 1 + (' ~ part_number ~ ')' -%}
    {%- else -%}
        {%- set wanted = '(' ~ part_number ~ ')' -%}
    {%- endif %}
    (with recursive dvt_parts(idx, part, rest) as (
        select 0, null, ({{ string_text }}) || {{ d }}
        union all
        select idx + 1,
            substr(rest, 1, instr(rest, {{ d }}) - 1),
            substr(rest, instr(rest, {{ d }}) + length({{ d }}))
        from dvt_parts
        where rest <> '' and length({{ d }}) > 0
    )
    select coalesce(
        (select part from dvt_parts where idx > 0 and idx = {{ wanted }}),
        (select substr(rest, 1, 0) from dvt_parts where idx = 0)
    ))
{% endmacro %}

{% macro right(string_text, length_expression) %}
    {{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}
{% endmacro %}

{% macro default__right(string_text, length_expression) %}
    right(
        {{ string_text }},
        {{ length_expression }}
    )
{%- endmacro %}

{#- A negative length drops that many characters from the start, as on PostgreSQL. -#}
{% macro sqlite__right(string_text, length_expression) %}
    case
        when ({{ length_expression }}) > 0 then substr({{ string_text }}, -({{ length_expression }}))
        when ({{ length_expression }}) < 0 then substr({{ string_text }}, 1 - ({{ length_expression }}))
        else substr({{ string_text }}, 1, 0)
    end
{%- endmacro %}

{% macro length(expression) %}{{ return(adapter.dispatch('length', 'dbt')(expression)) }}{% endmacro %}

{% macro default__length(expression) %}
    length(
        {{ expression }}
    )
{%- endmacro %}

{#- MySQL's `length` counts bytes. -#}
{% macro mysql__length(expression) %}
    char_length({{ expression }})
{%- endmacro %}

{% macro position(substring_text, string_text) %}
    {{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}
{% endmacro %}

{#- MySQL compares by the text's collation: case-insensitively with its default one. -#}
{% macro default__position(substring_text, string_text) %}
    position(
        {{ substring_text }} in {{ string_text }}
    )
{%- endmacro %}

{% macro sqlite__position(substring_text, string_text) %}
    instr({{ string_text }}, {{ substring_text }})
{%- endmacro %}

{% macro replace(field, old_chars, new_chars) %}
    {{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}
{% endmacro %}

{% macro default__replace(field, old_chars, new_chars) %}
    replace(
        {{ field }},
        {{ old_chars }},
        {{ new_chars }}
    )
{% endmacro %}

{% macro string_literal(value) %}{{ return(adapter.dispatch('string_literal', 'dbt')(value)) }}{% endmacro %}

{% macro default__string_literal(value) -%}
    '{{ value }}'
{%- endmacro %}

{% macro escape_single_quotes(expression) %}
    {{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}
{% endmacro %}

{% macro default__escape_single_quotes(expression) -%}
    {{ expression | replace("'", "''") }}
{%- endmacro %}

{#- MySQL reads a backslash in a string literal as an escape. -#}
{% macro mysql__escape_single_quotes(expression) -%}
    {{ expression | replace("\\", "\\\\") | replace("'", "''") }}
{%- endmacro %}


{#- ---------------------------------------------------------------------------------
    Aggregates
--------------------------------------------------------------------------------- -#}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) %}
    {{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}
{% endmacro %}

{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num %}
    array_to_string(
        array_slice(
            array_agg(
                {{ measure }}
            ){% if order_by_clause %}
            within group ({{ order_by_clause }}){% endif %}
            ,0
            ,{{ limit_num }}
        ),
        {{ delimiter_text }}
        )
    {%- else %}
    listagg(
        {{ measure }},
        {{ delimiter_text }}
        ){% if order_by_clause %}
        within group ({{ order_by_clause }}){% endif %}
    {%- endif %}
{%- endmacro %}

{% macro postgres__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num %}
    array_to_string(
        (array_agg(
            {{ measure }}
            {{ order_by_clause or '' }}
        ))[1:{{ limit_num }}],
        {{ delimiter_text }}
        )
    {%- else %}
    string_agg(
        {{ measure }},
        {{ delimiter_text }}
        {{ order_by_clause or '' }}
        )
    {%- endif %}
{%- endmacro %}

{#- `group_concat` stops at `group_concat_max_len` bytes (MySQL: 1024 unless raised). -#}
{% macro mysql__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- set all = 'group_concat(' ~ measure ~ ' ' ~ (order_by_clause or '') ~ ' separator ' ~ delimiter_text ~ ')' -%}
    {%- if limit_num %}
    substring_index({{ all }}, {{ delimiter_text }}, {{ limit_num }})
    {%- else %}
    {{ all }}
    {%- endif %}
{%- endmacro %}

{#- An ordered `group_concat` needs SQLite 3.44 (DVT's connections run 3.50). The first
    `limit_num` values come from the JSON array of all of them, in order. -#}
{% macro sqlite__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- set order = (' ' ~ order_by_clause) if order_by_clause else '' -%}
    {%- if limit_num %}
    (select group_concat(value, {{ delimiter_text }}) from json_each(json_group_array({{ measure }}{{ order }})) where key < {{ limit_num }})
    {%- else %}
    group_concat({{ measure }}, {{ delimiter_text }}{{ order }})
    {%- endif %}
{%- endmacro %}

{% macro any_value(expression) %}{{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}{% endmacro %}

{% macro default__any_value(expression) -%}
    any_value({{ expression }})
{%- endmacro %}

{#- PostgreSQL before 16, MariaDB and SQLite have no `any_value`; any value of the group
    will do, and `min` is one. -#}
{% macro postgres__any_value(expression) -%}
    min({{ expression }})
{%- endmacro %}

{% macro mysql__any_value(expression) -%}
    min({{ expression }})
{%- endmacro %}

{% macro sqlite__any_value(expression) -%}
    min({{ expression }})
{%- endmacro %}

{% macro bool_or(expression) %}{{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}{% endmacro %}

{% macro default__bool_or(expression) -%}
    bool_or({{ expression }})
{%- endmacro %}

{#- Booleans are 1 and 0 there: any true is the largest. -#}
{% macro mysql__bool_or(expression) -%}
    max({{ expression }})
{%- endmacro %}

{% macro sqlite__bool_or(expression) -%}
    max({{ expression }})
{%- endmacro %}


{#- ---------------------------------------------------------------------------------
    Arrays: PostgreSQL's arrays; JSON arrays on MySQL and SQLite, which have no other.
--------------------------------------------------------------------------------- -#}

{% macro array_construct(inputs=[], data_type='integer') %}
    {{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type)) }}
{% endmacro %}

{% macro default__array_construct(inputs, data_type) -%}
    {% if inputs | length > 0 %}
    array[ {{ inputs | join(' , ') }} ]
    {% else %}
    array[]::{{ data_type }}[]
    {% endif %}
{%- endmacro %}

{% macro mysql__array_construct(inputs, data_type) -%}
    json_array({{ inputs | join(', ') }})
{%- endmacro %}

{% macro sqlite__array_construct(inputs, data_type) -%}
    json_array({{ inputs | join(', ') }})
{%- endmacro %}

{% macro array_append(array, new_element) %}
    {{ return(adapter.dispatch('array_append', 'dbt')(array, new_element)) }}
{% endmacro %}

{% macro default__array_append(array, new_element) -%}
    array_append({{ array }}, {{ new_element }})
{%- endmacro %}

{% macro mysql__array_append(array, new_element) -%}
    json_array_append({{ array }}, '$', {{ new_element }})
{%- endmacro %}

{% macro sqlite__array_append(array, new_element) -%}
    json_insert({{ array }}, '$[#]', {{ new_element }})
{%- endmacro %}

{% macro array_concat(array_1, array_2) %}
    {{ return(adapter.dispatch('array_concat', 'dbt')(array_1, array_2)) }}
{% endmacro %}

{% macro default__array_concat(array_1, array_2) -%}
    array_cat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}

{% macro mysql__array_concat(array_1, array_2) -%}
    json_merge_preserve({{ array_1 }}, {{ array_2 }})
{%- endmacro %}

{#- The elements of both, in order, gathered into one array. -#}
{% macro sqlite__array_concat(array_1, array_2) -%}
    (select json_group_array(value) from (
        select 1 as side, key, value from json_each({{ array_1 }})
        union all
        select 2 as side, key, value from json_each({{ array_2 }})
        order by side, key
    ))
{%- endmacro %}


{#- ---------------------------------------------------------------------------------
    Set operations
--------------------------------------------------------------------------------- -#}

{% macro except() %}{{ return(adapter.dispatch('except', 'dbt')()) }}{% endmacro %}

{% macro default__except() %}
    except
{% endmacro %}

{% macro intersect() %}{{ return(adapter.dispatch('intersect', 'dbt')()) }}{% endmacro %}

{% macro default__intersect() %}
    intersect
{% endmacro %}


{#- ---------------------------------------------------------------------------------
    Series: the numbers 1..upper_bound, and a spine of dates
--------------------------------------------------------------------------------- -#}

{#- The smallest n with 2^n >= upper_bound: a cross join of n two-row tables counts
    that far. -#}
{% macro get_powers_of_two(upper_bound) %}
    {{ return(adapter.dispatch('get_powers_of_two', 'dbt')(upper_bound)) }}
{% endmacro %}

{% macro default__get_powers_of_two(upper_bound) %}
    {%- if upper_bound <= 0 -%}
        {{ exceptions.raise_compiler_error("dbt.generate_series: upper bound must be positive, not " ~ upper_bound) }}
    {%- endif -%}
    {%- for n in range(1, 100) -%}
        {%- if upper_bound <= 2 ** n -%}
            {{ return(n) }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}

{% macro generate_series(upper_bound) %}
    {{ return(adapter.dispatch('generate_series', 'dbt')(upper_bound)) }}
{% endmacro %}

{% macro default__generate_series(upper_bound) %}
    {{ dbt._dvt_generate_series(upper_bound, true) }}
{% endmacro %}

{#- DVT's SQLite is built without the math functions (`power`): the powers of two are
    written out. -#}
{% macro sqlite__generate_series(upper_bound) %}
    {{ dbt._dvt_generate_series(upper_bound, false) }}
{% endmacro %}

{% macro _dvt_generate_series(upper_bound, with_power) %}
    {%- set n = dbt.get_powers_of_two(upper_bound) %}
    with p as (
        select 0 as generated_number union all select 1
    ), unioned as (
    select
    {% for i in range(n) %}
        p{{ i }}.generated_number * {{ ('power(2, ' ~ i ~ ')') if with_power else 2 ** i }}
        {% if not loop.last %} + {% endif %}
    {% endfor %}
        + 1
        as generated_number
    from
    {% for i in range(n) %}
        p as p{{ i }}
        {% if not loop.last %} cross join {% endif %}
    {% endfor %}
    )
    select *
    from unioned
    where generated_number <= {{ upper_bound }}
    order by generated_number
{% endmacro %}

{#- How many `datepart`s lie between the two, asked of the database (dbt does the same):
    while parsing nothing runs, and the answer is 1. -#}
{% macro get_intervals_between(start_date, end_date, datepart) %}
    {{ return(adapter.dispatch('get_intervals_between', 'dbt')(start_date, end_date, datepart)) }}
{% endmacro %}

{% macro default__get_intervals_between(start_date, end_date, datepart) -%}
    {%- call statement('get_intervals_between', fetch_result=True) %}
        select {{ dbt.datediff(start_date, end_date, datepart) }}
    {%- endcall -%}
    {%- set result = load_result('get_intervals_between') -%}
    {%- if result and result['data'] -%}
        {{ return(result['data'][0][0]) }}
    {%- else -%}
        {{ return(1) }}
    {%- endif -%}
{%- endmacro %}

{% macro date_spine(datepart, start_date, end_date) %}
    {{ return(adapter.dispatch('date_spine', 'dbt')(datepart, start_date, end_date)) }}
{% endmacro %}

{#- One row per `datepart` from `start_date` up to `end_date` (inclusive), named
    `date_<datepart>`. -#}
{% macro default__date_spine(datepart, start_date, end_date) %}
    with rawdata as (
        {{ dbt.generate_series(dbt.get_intervals_between(start_date, end_date, datepart)) }}
    ),

    all_periods as (
        select (
            {{ dbt.dateadd(datepart, 'row_number() over (order by 1) - 1', start_date) }}
        ) as date_{{ datepart }}
        from rawdata
    ),

    filtered as (
        select *
        from all_periods
        where date_{{ datepart }} <= {{ end_date }}
    )

    select * from filtered
{% endmacro %}
