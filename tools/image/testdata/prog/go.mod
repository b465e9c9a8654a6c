module imagetest

go 1.26
