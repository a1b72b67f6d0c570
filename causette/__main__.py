from chat.cli import main

main(prog_name="causette")
