module example.com/bench-app

go 1.19
