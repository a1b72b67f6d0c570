from causette.cli import main

main(prog_name="causette")
