select id from {{ ref('t') }}
