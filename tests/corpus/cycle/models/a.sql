select * from {{ ref('b') }}
