select 1 as x
{{ return(1) }}
