select {{ pick() }} as x
