from monitor.cli.app import main

main()
