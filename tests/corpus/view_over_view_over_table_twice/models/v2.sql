select count(*) as n from {{ ref('v1') }}
