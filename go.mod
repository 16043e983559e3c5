module github.com/switchyard-net/switchyard

go 1.26.8
