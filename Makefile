# Shortcuts for dev.py, which needs nothing but Python 3.10+ (make is optional).
.PHONY: run test venv
run:
	python3 dev.py run
test:
	python3 dev.py test
venv:
	python3 dev.py venv
