select x from {{ ref('my-model') }}
