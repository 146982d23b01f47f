-- reads a source nobody declared
select *
from {{ source('raw', 'orders') }}
