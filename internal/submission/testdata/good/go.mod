module good

go 1.22
