select count(*) as n from {{ ref('s') }}
