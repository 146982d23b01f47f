select {{ a() }} as x
