from mediajobs_cli.app import main

main()
