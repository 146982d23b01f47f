select sum(id) as total from {{ ref('b') }}
