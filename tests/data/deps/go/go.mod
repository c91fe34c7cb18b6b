module github.com/example/webapp

go 1.21

toolchain go1.21.5

require (
	github.com/gorilla/mux v1.8.1
	github.com/pkg/errors v0.9.1
	golang.org/x/sys v0.15.0 // indirect
	"gopkg.in/yaml.v3" v3.0.1
)

require github.com/stretchr/testify v1.8.4 // indirect; used by tests

replace github.com/pkg/errors => github.com/example/errors v0.9.2-fix

replace gopkg.in/yaml.v3 v3.0.1 => ./third_party/yaml

exclude golang.org/x/sys v0.14.0

retract [v1.0.0, v1.0.5] // published by mistake
