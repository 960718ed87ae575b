from flanlab.cli.app import main

main()
