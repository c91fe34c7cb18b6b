module example.com/goapp

go 1.20

require (
	github.com/foo/bar v1.2.3
	github.com/gnu/thing v0.4.0
)
