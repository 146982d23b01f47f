select x from {{ ref('select') }}
