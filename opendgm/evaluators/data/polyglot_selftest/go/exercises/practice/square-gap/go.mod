module squaregap

go 1.18
