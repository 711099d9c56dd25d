document.body.textContent = "MODA Hub";
