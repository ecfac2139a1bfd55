from bench.learning.lift import main

main()
