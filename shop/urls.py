from django.contrib.auth import views as auth_views
from django.urls import path

from shop import cart, views

app_name = "shop"
urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("p/<int:pk>/", views.product_detail, name="product"),
    path("p/<int:pk>/review/", views.review_create, name="review_create"),
    path("p/<int:pk>/buy/", views.buy_now, name="buy"),
    path("cart/", cart.cart, name="cart"),
    path("cart/add/<int:pk>/", cart.cart_add, name="cart_add"),
    path("cart/remove/<int:pk>/", cart.cart_remove, name="cart_remove"),
    path("cart/checkout/", cart.checkout, name="checkout"),
    path("styles/", views.styles, name="styles"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
