from sciml.cli import main

raise SystemExit(main())
