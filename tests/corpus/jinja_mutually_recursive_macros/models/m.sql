select {{ ping(1) }} as x
