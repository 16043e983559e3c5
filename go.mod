module github.com/switchyard-net/switchyard

go 1.26.8

require (
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
