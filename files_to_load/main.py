# Starts the VEN. Press BUT1 (GPIO34) or Ctrl-C to stop it and get the REPL.
import ven.mainloop

ven.mainloop.main()
