from soldout.cli import main

main()
