select x + 1 as x from {{ ref('m060') }}
